"""ALS on a Dask cluster: ``mfrec.distributed.fit(model, source, client=client) -> model``.

Install with ``pip install 'mfrec[distributed]'`` (dask[distributed,dataframe], pyarrow).
The maths are the single-machine ALS's (same objective, kernels and initialisation); the data
are partitioned as Spark MLlib's ALS does (users and items hashed into blocks, in-/out-blocks so
each block receives only the factor rows it needs). See docs/distributed.md.
"""
from .training import DistributedFitError, fit

__all__ = ["fit", "DistributedFitError"]
