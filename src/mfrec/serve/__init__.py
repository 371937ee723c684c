"""Serve trained models over HTTP (`mfrec serve`), with a page to browse them.

Needs the ``serve`` extra (FastAPI + uvicorn): ``pip install 'mfrec[serve]'``.

- :mod:`.registry`: model files by name, polling hot reload, load failures kept for /health
- :mod:`.catalog`: item ids, titles and title search of one model
- :mod:`.params`: query/JSON validation -> typed values or 400/422 errors
- :mod:`.limits`: request body size limit (413)
- :mod:`.app`: the FastAPI app (``create_app``): JSON API + the page in ``static/``
- :mod:`.server`: socket binding and uvicorn
"""
