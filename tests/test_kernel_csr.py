"""The CSR dtype helpers at the kernel boundary (mfrec.kernels.csr)."""
import numpy as np
import pytest
import scipy.sparse as sp

from mfrec.kernels.csr import csr_structure, kernel_csr, read_only


def test_kernel_csr_gives_the_kernel_dtypes_contiguous_and_equal_values():
    m = sp.random(30, 50, density=0.2, format="csr", random_state=0, dtype=np.float64)
    m.indptr = m.indptr.astype(np.int32)                    # scipy's small-matrix index dtype
    m.indices = m.indices.astype(np.int64)
    indptr, indices, data = kernel_csr(m)
    assert (indptr.dtype, indices.dtype, data.dtype) == (np.int64, np.int32, np.float32)
    assert all(a.flags.c_contiguous for a in (indptr, indices, data))
    np.testing.assert_array_equal(indptr, m.indptr)
    np.testing.assert_array_equal(indices, m.indices)
    np.testing.assert_array_equal(data, m.data.astype(np.float32))


def test_no_copy_when_already_in_kernel_dtypes_and_a_read_only_view():
    indptr = np.array([0, 2, 3], dtype=np.int64)
    indices = np.array([1, 4, 0], dtype=np.int32)
    out_indptr, out_indices = csr_structure(indptr, indices)
    assert np.shares_memory(out_indptr, indptr) and np.shares_memory(out_indices, indices)
    assert not out_indptr.flags.writeable and not out_indices.flags.writeable
    assert indptr.flags.writeable and indices.flags.writeable   # the caller's arrays keep their flags


def test_read_only_converts_and_freezes_without_touching_the_input():
    source = np.arange(12, dtype=np.float64).reshape(3, 4)
    out = read_only(source.T, np.float32)
    assert out.dtype == np.float32 and out.flags.c_contiguous and not out.flags.writeable
    np.testing.assert_array_equal(out, source.T)
    assert source.flags.writeable
    same = read_only(source)
    assert np.shares_memory(same, source) and not same.flags.writeable


def test_strided_input_becomes_contiguous():
    indices = np.arange(10, dtype=np.int32)[::2]
    _, out = csr_structure(np.array([0, 5]), indices)
    assert out.flags.c_contiguous and out.tolist() == [0, 2, 4, 6, 8]


def test_an_index_beyond_int32_is_refused_not_wrapped():
    with pytest.raises(ValueError, match="does not fit"):
        csr_structure(np.array([0, 1]), np.array([2 ** 31], dtype=np.int64))
