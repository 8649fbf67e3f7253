"""
The local NonKYC sandbox exchange as a distribution of its own (`nonkyc-sandbox`): the project's set-up installs it
(editable) into `.venv`; the connector's package (`../setup.py`) does not contain it.
"""
from setuptools import setup

setup(
    name="nonkyc-sandbox",
    version="0.1.0",
    description="A local NonKYC-compatible exchange (REST + WebSocket) for testing the NonKYC Hummingbot connector",
    packages=["nonkyc_sandbox"],
    package_data={"nonkyc_sandbox": ["README.md"]},
    install_requires=["aiohttp"],
)
