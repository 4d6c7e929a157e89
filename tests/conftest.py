import os

import pytest

# scikit-learn's check_array_api_input runs only with scipy's array API
# support switched on, which must happen before scipy is first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")


@pytest.fixture
def hessian_rows(monkeypatch):
    """The number of rows of every Newton Hessian the test computes."""
    import mixexp._multinomial

    rows = []
    original = mixexp._multinomial._curvature

    def recording(Xt, weights, prob):
        rows.append(Xt.shape[1])
        return original(Xt, weights, prob)

    monkeypatch.setattr(mixexp._multinomial, "_curvature", recording)
    return rows
