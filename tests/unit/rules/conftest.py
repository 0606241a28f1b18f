from __future__ import annotations

import pytest
from pydicom import Dataset
from pydicom.sequence import Sequence

from rules.model import IngestContext


@pytest.fixture
def ctx() -> IngestContext:
    return IngestContext(calling_ae="MODALITY1", called_ae="AXIOM")


@pytest.fixture
def ct() -> Dataset:
    """A CT-like dataset with single, multi-valued, person-name, empty and sequence elements."""
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = "1.2.3.4.5"
    ds.StudyInstanceUID = "1.2.3.4"
    ds.SeriesInstanceUID = "1.2.3.4.1"
    ds.Modality = "CT"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.PatientName = "Doe^John"
    ds.PatientID = "PID-0001"
    ds.StudyDescription = "CT Head without contrast"
    ds.AccessionNumber = ""
    ds.SeriesNumber = 3
    item = Dataset()
    item.PatientID = "OTHER-1"
    ds.OtherPatientIDsSequence = Sequence([item])
    return ds
