"""Maps the KFP layer into the package without links: one path per file.

``components/`` and ``pipelines/`` stay top-level, where KFP users look for them, and
install as ``mlops_suite.components`` and ``mlops_suite.pipelines`` (wheels and
editable installs alike). Everything else is in ``pyproject.toml``.
"""

from setuptools import find_packages, setup

KFP_LAYER = {
    "mlops_suite.components": "components",
    "mlops_suite.pipelines": "pipelines",
}

setup(
    packages=[*find_packages(include=["mlops_suite", "mlops_suite.*"]), *KFP_LAYER],
    package_dir=KFP_LAYER,
)
