"""FNE post-processing: standardise with train statistics, discretise to {-1, 0, 1}, linear SVM."""
import numpy as np
import pytest

from transferlab.errors import BadInputError
from transferlab.fne.transforms import Discretize, Standardize, make_probe


def test_discretisation_matches_the_paper_example():
    x = np.array([[0.1, 0.2, -0.3, 0.5], [-0.6, 0.5, 0.4, 0.1]])
    out = Discretize().fit(x).transform(x)
    np.testing.assert_array_equal(out, [[0, 1, -1, 1], [-1, 1, 1, 0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_thresholds_themselves_give_zero(dtype):
    x = np.array([[0.15, -0.25, np.nextafter(dtype(0.15), dtype(1)), np.nextafter(dtype(-0.25), dtype(-1))]],
                 dtype=dtype)
    np.testing.assert_array_equal(Discretize().fit(x).transform(x), [[0, 0, 1, -1]])


def test_thresholds_are_configurable_and_checked():
    x = np.array([[0.5, -0.5, 0.0]])
    np.testing.assert_array_equal(Discretize(low=-0.6, high=0.6).fit(x).transform(x), [[0, 0, 0]])
    with pytest.raises(BadInputError):
        Discretize(low=0.5, high=0.1).fit(x)


def test_standardize_uses_train_population_statistics_and_zeroes_constant_features():
    train = np.array([[1.0, 5.0, 2.0], [3.0, 5.0, 4.0], [5.0, 5.0, 9.0]])
    test = np.array([[3.0, 7.0, 5.0]])
    st = Standardize().fit(train)
    np.testing.assert_allclose(st.mean_, train.mean(0))
    np.testing.assert_allclose(st.scale_, train.std(0, ddof=0))
    out = st.transform(test)
    assert out[0, 1] == 0.0  # zero-std feature stays 0 even though the test value differs
    np.testing.assert_allclose(out[0, [0, 2]], (test[0, [0, 2]] - train.mean(0)[[0, 2]]) / train.std(0)[[0, 2]],
                               rtol=1e-6)
    assert np.allclose(st.transform(train).mean(0)[[0, 2]], 0, atol=1e-6)


def test_probe_pipelines_learn_a_separable_problem():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 30)
    x = rng.normal(size=(90, 20)) + np.eye(3, 20)[y] * 4
    for post in ("fne", "std", "l2", "none"):
        pipe = make_probe(post).fit(x, y)
        assert (pipe.predict(x) == y).mean() > 0.95, post
    with pytest.raises(BadInputError, match="unknown post-processing"):
        make_probe("pca")
    with pytest.raises(BadInputError):
        make_probe("fne", C=0)
