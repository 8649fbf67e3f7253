"""
Packaging of the NonKYC connector project.

The connector itself (`hummingbot/connector/exchange/nonkyc`) is not a package of its own: Hummingbot discovers
connectors by scanning the directory of its installed package, so `setup.sh` links the repository's connector
directory into the installed `hummingbot` package. This file installs the project's own helper packages (the local
NonKYC sandbox exchange) in editable mode and pins the Hummingbot release the connector is built for.
"""
from setuptools import find_packages, setup

setup(
    name="hummingbot-nonkyc-connector",
    version="0.1.0",
    description="NonKYC exchange connector for Hummingbot, with a local NonKYC-compatible sandbox exchange",
    python_requires=">=3.11,<3.13",
    packages=find_packages(include=["nonkyc_sandbox", "nonkyc_sandbox.*"]),
    install_requires=["hummingbot==20260922"],
)
