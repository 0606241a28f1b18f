"""De-identification to DICOM PS3.15 Annex E, as an action of the rule engine.

``table_e1_1`` is Table E.1-1 as generated data; ``profiles`` folds named YAML profiles, options and
overrides into the action code of every tag; ``keys`` derives UIDs, pseudonyms and date shifts from
the deployment secret; ``plan`` decides, on the received dataset, whether the instance may be
anonymized (burned-in text) and with which pseudonym; ``walker`` applies one profile to a dataset.
Pure: no I/O beyond the shipped profile files, no clock.
"""
