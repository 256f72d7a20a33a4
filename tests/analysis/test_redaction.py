"""The one redaction helper: ``secrets:`` fields and URI passwords masked (files, printed lines) or
left out (MLflow params), and found again for a resumed study."""

from analysis.redaction import REDACTED, redact, redact_uri, redacted_paths, without_secrets
from analysis.runs import browse_hint, mlflow_ui_url


def test_uri_passwords_are_masked_wherever_they_appear():
    assert redact_uri("http://me:s3cret@mlflow:5000") == "http://me:***@mlflow:5000"
    assert redact_uri("postgresql+psycopg2://ml:p%40ss@db:5432/m") == "postgresql+psycopg2://ml:***@db:5432/m"
    assert redact_uri("at https://u:pw@h/x and s3://k:sk@b/p.") == "at https://u:***@h/x and s3://k:***@b/p."
    assert redact_uri("postgresql://db/m?user=a&password=pw&ssl=1") == "postgresql://db/m?user=a&password=***&ssl=1"
    for clean in ("http://127.0.0.1:5000", "postgresql+psycopg2://mlflow@db:5432/mlflow", "sqlite:///a/b.db", "x"):
        assert redact_uri(clean) == clean
    assert redact_uri(None) is None


def test_fields_are_redacted_in_files_and_left_out_of_params():
    config = {"name": "s", "token": "tok-1", "tracking_uri": "http://me:pw-2@h:5000",
              "secrets": ["token", "data_root"],
              "trial": {"data_root": "/mnt/key-3", "lr": 0.1, "token": None}, "list": ["https://a:pw-4@b"]}
    written = redact(config, config["secrets"])
    assert written == {"name": "s", "token": REDACTED, "tracking_uri": "http://me:***@h:5000",
                       "secrets": ["token", "data_root"], "trial": {"data_root": REDACTED, "lr": 0.1, "token": None},
                       "list": ["https://a:***@b"]}
    logged = without_secrets(config, config["secrets"])
    assert logged == {"name": "s", "tracking_uri": "http://me:***@h:5000", "secrets": ["token", "data_root"],
                      "trial": {"lr": 0.1}, "list": ["https://a:***@b"]}
    text = repr(written) + repr(logged)
    assert not [s for s in ("tok-1", "pw-2", "key-3", "pw-4") if s in text]
    assert config["trial"]["data_root"] == "/mnt/key-3"  # the input is left alone
    assert redacted_paths(written) == ["token", "tracking_uri", "trial.data_root"]  # what --resume asks again
    assert redacted_paths({"a": "plain ***", "b": "sqlite:///x"}) == []
    assert without_secrets({"estimate_at": (10, 30)}, ()) == {"estimate_at": (10, 30)}  # logged as before


def test_links_and_hints_carry_no_login():
    assert mlflow_ui_url("http://me:pw@mlflow:5000/", "1").startswith("http://mlflow:5000/#/experiments/1?")
    assert "pw" not in browse_hint("postgresql://me:pw@db/mlflow", "1")
