"""The full preset's fast paths: fits run at once give the scores of fits run one after another,
to the last bit; the encoder runs faster without touching the model."""

import numpy as np
import pytest
import torch

from analysis.metrics.dci import dci, dci_start
from analysis.metrics.scoring import MetricPreset, _factor_metrics, make_represent
from tests.analysis.metrics.oracle import dci_loop
from tests.analysis.metrics.test_disentanglement import DATA, codes_factors, rotated, with_noise_dims

SMALL = MetricPreset("small", eval_size=64, codes="grid", bootstrap=20, sizes={
    "beta_vae": dict(num_train=200, num_eval=100), "factor_vae": dict(num_train=200, num_eval=100, num_variance=500),
    "mig": dict(num_points=500), "dci": dict(num_train=300, num_test=150), "sap": dict(num_train=200, num_test=100),
    "modularity": dict(num_train=300, num_test=150), "irs": dict(num_points=500)})


@pytest.mark.slow  # fits DCI's trees twice
def test_parallel_dci_equals_the_serial_loop_of_the_reference():
    (ct, ft), (ce, fe) = codes_factors(rotated, 300, 1), codes_factors(rotated, 150, 2)
    rngs = [np.random.default_rng(9) for _ in range(2)]
    serial, parallel = (dci(ct, ft, ce, fe, random_state=4, rng=r, n_jobs=n) for r, n in zip(rngs, (1, 2), strict=True))
    assert serial == parallel
    assert rngs[0].integers(1 << 30) == rngs[1].integers(1 << 30)  # the stream moved on alike
    d, c, train, test = dci_loop(ct, ft[:, 1:], ce, fe[:, 1:], random_state=4)  # factor 0 is constant
    assert (parallel["disentanglement"], parallel["completeness"]) == (d, c)
    assert parallel["informativeness_train"] == train
    assert parallel["informativeness_test"] == pytest.approx(test, abs=1e-15)


def test_dci_start_draws_its_resamples_before_the_fits_end():
    (ct, ft), (ce, fe) = codes_factors(rotated, 200, 1), codes_factors(rotated, 100, 2)
    waited, started = np.random.default_rng(3), np.random.default_rng(3)
    expected = dci(ct, ft, ce, fe, rng=waited)
    scores = dci_start(ct, ft, ce, fe, rng=started, n_jobs=2)
    assert waited.random() == started.random()  # drawn before scores() is called
    assert scores() == expected


def test_the_factor_suite_does_not_depend_on_n_jobs():
    """DCI's fits overlap the later metrics; every score and the stream stay those of a serial run."""
    runs = [_factor_metrics(DATA, with_noise_dims, np.random.default_rng(11), SMALL, n_jobs=n) for n in (1, 2)]
    assert runs[0] == runs[1] and "dci_disentanglement" in runs[0]


def test_encodings_leave_the_model_alone_and_the_codes_close():
    from models import build_model
    from train.data import dsprites

    torch.manual_seed(0)
    model = build_model("beta_vae", 4).eval()
    images = dsprites().eval_set(300)[0]
    with torch.no_grad():
        reference = model.encode(images)[0].numpy()
    assert np.allclose(make_represent(model, batch_size=128)(images), reference, rtol=0, atol=1e-6)
    channels_last = make_represent(model, batch_size=128, encoding="fp32-cl")(images)
    assert np.abs(channels_last - reference).max() < 1e-5
    assert all(p.is_contiguous() for p in model.parameters())  # a copy ran channels_last
    bf16 = make_represent(model, encoding="bf16-cl")(images)
    assert bf16.dtype == np.float32 and np.abs(bf16 - reference).max() < 0.02 * np.abs(reference).max()
    with pytest.raises(ValueError, match="encoding"):
        make_represent(model, encoding="fp16")
