"""Packages and their folders: one import name, ``featurestore``, three folders.

``featurestore`` (with the generated ``featurestore.v1``) lives in
``proto/featurestore``; ``featurestore.services`` is ``services/`` and
``featurestore.spark_jobs`` is ``spark_jobs/``. Everything else is in
pyproject.toml.
"""

from setuptools import find_packages, setup

FOLDERS = {
    "featurestore": "proto/featurestore",
    "featurestore.services": "services",
    "featurestore.spark_jobs": "spark_jobs",
}

setup(
    packages=[
        package
        for name, folder in FOLDERS.items()
        for package in (name, *(f"{name}.{sub}" for sub in find_packages(folder)))
    ],
    package_dir=FOLDERS,
    package_data={
        "": ["py.typed", "*.pyi"],
        # featurestore init: the new project's files (services/project/templates).
        "featurestore.services.project": [
            "templates/*",
            "templates/*/*",
            "templates/*/*/*",
        ],
        # featurestore ui: page templates and the vendored htmx (no CDN).
        "featurestore.services.ui": ["templates/*", "static/*"],
    },
)
