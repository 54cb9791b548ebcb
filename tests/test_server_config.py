""".streamlit/config.toml: safe server defaults, the engine's upload limit, and only options Streamlit knows
(a misspelt option is silently ignored, so its safety would be too)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import streamlit.config

from gan_core.data import MAX_NPZ_BYTES, MAX_UPLOAD_MB

CONFIG = Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml"


def settings() -> dict:
    with CONFIG.open("rb") as f:
        return tomllib.load(f)


def test_every_option_is_one_streamlit_knows():
    streamlit.config.get_config_options()
    known = set(streamlit.config._config_options)
    for section, options in settings().items():
        for name in options:
            assert f"{section}.{name}" in known, f"{section}.{name} is not a Streamlit option"


def test_the_server_is_safe_by_default():
    server = settings()["server"]
    assert server["address"] == "127.0.0.1"  # a LAN demo is chosen on the command line
    assert server["enableXsrfProtection"] is True
    assert server["enableCORS"] is True  # Streamlit's CORS *protection*; false accepts any origin
    assert server["runOnSave"] is False
    assert server["fileWatcherType"] == "none"
    assert settings()["browser"]["gatherUsageStats"] is False


def test_the_upload_limit_is_the_engines():
    assert settings()["server"]["maxUploadSize"] == MAX_UPLOAD_MB
    assert MAX_NPZ_BYTES == MAX_UPLOAD_MB * 1024 * 1024  # Streamlit's MB are MiB
    assert MAX_NPZ_BYTES > 70_000 * 28 * 28 * 2  # full MNIST as uint8, with room
