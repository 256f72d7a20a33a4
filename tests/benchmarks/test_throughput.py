"""benchmarks/throughput.py: a case gives both precisions' rates; rows carry precision and threads."""

import pytest
import torch

from benchmarks import throughput


@pytest.mark.slow  # times real training steps at two precisions
def test_a_case_times_fp32_and_bf16_of_the_trial_step():
    result = throughput.measure("vae", "burgess", 4, torch.device("cpu"), steps=1, repeats=1)
    assert set(result) == {"fp32", "bf16"} and all(ips > 0 and flops > 0 for ips, flops in result.values())


def test_rows_are_saved_with_precision_and_threads(tmp_path):
    from study.budget import read_table

    path = tmp_path / "t.csv"
    throughput.save(str(path), [("cpu", "burgess", "vae", 64, "bf16", 1, 900.0)])
    throughput.save(str(path), [("cpu", "burgess", "vae", 64, "fp32", 1, 450.0)])
    assert read_table(str(path)) == {("cpu", "burgess", "vae", 64, "bf16", 1): 900.0,
                                     ("cpu", "burgess", "vae", 64, "fp32", 1): 450.0}
    old = tmp_path / "old.csv"
    old.write_text("device,architecture,model_type,batch_size,images_per_second\n")
    with pytest.raises(SystemExit, match="save to a new file"):
        throughput.save(str(old), [("cpu", "burgess", "vae", 64, "fp32", 1, 450.0)])
