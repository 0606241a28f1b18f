from __future__ import annotations

import subprocess
import sys

from axiom.destinations.healthcare import HealthcareDestinationConfig, dicomweb_root


def test_dicomweb_root_is_composed_from_the_store_path() -> None:
    config = HealthcareDestinationConfig(
        name="gcp", project="my-project", location="europe-west4", dataset="imaging", dicom_store="router-out"
    )
    assert dicomweb_root(config) == (
        "https://healthcare.googleapis.com/v1/projects/my-project/locations/europe-west4"
        "/datasets/imaging/dicomStores/router-out/dicomWeb"
    )


def test_dicomweb_root_escapes_path_separators_and_honours_base_url() -> None:
    config = HealthcareDestinationConfig(
        name="gcp",
        project="p",
        location="l",
        dataset="a/b",
        dicom_store="s",
        base_url="http://127.0.0.1:9/v1/",
    )
    assert (
        dicomweb_root(config)
        == "http://127.0.0.1:9/v1/projects/p/locations/l/datasets/a%2Fb/dicomStores/s/dicomWeb"
    )


def test_cloud_destination_modules_import_no_google_library_until_used() -> None:
    """The core install has no google-* packages: loading the registry's modules must not need them."""
    # Namespace-package .pth files (some google-cloud-* packages ship one) put bare `google` and `google.cloud`
    # in sys.modules at start-up; what counts is what loading the modules adds.
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "from axiom.destinations import resolve\n"
        "for kind in ('stowrs', 'gcs', 'healthcare'):\n"
        "    resolve(kind)\n"
        "loaded = sorted(m for m in set(sys.modules) - before if m == 'google' or m.startswith('google.'))\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
