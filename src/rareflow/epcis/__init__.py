"""EPCIS 2.0 support: document validation and CBV 2.0 event hash IDs.

- `rareflow.epcis.validate`: JSON/JSON-LD against the normative EPCIS 2.0.1 JSON schema, XML
  against the EPCIS 2.0 XSDs, with readable reasons. The GS1 schemas are not shipped (their
  licence terms do not clearly allow it): they are read from ``$RAREFLOW_EPCIS_SCHEMAS``.
- `rareflow.epcis.event_hash`: the CBV 2.0 EPCIS Event Hash ID (docs/epcis-event-hash.md).
- `rareflow.epcis.digital_link`: EPC URIs / GS1 Digital Link URIs in canonical form.
"""
