"""The names of what a study folder (``<root>/<study>/``) holds, for every module that reads or writes it."""

CONFIG_FILE = "config.yaml"
"""The study's config as run (secrets redacted); ``--resume`` reads it back."""
TUNE_DIR = "tune"
"""Ray Tune's experiment folder of the first stage (an extension's stages are ``tune-2``, ...)."""
OPTUNA_DB = "optuna.db"
"""The Optuna storage (SQLite) of the study's one Optuna study."""
