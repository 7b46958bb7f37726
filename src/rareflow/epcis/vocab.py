"""Standard CBV 2.0 / GS1 vocabulary terms that EPCIS JSON-LD allows in bare-string form.

In JSON/JSON-LD, standard vocabulary values are written as bare words (``"shipping"``); the
EPCIS 2.0 JSON-LD context maps each to its Web URI (``https://ref.gs1.org/cbv/BizStep-shipping``)
through a field-scoped context. The event hash needs the same expansion without a JSON-LD
processor, so the term names of those scoped contexts are listed here (names only: the URI is
``base + prefix + term``, see `BARE_TERMS`).
"""

from __future__ import annotations

CBV = "https://ref.gs1.org/cbv/"
GS1_VOC = "https://gs1.org/voc/"


def _terms(words: str) -> frozenset[str]:
    return frozenset(words.split())


BIZ_STEPS: frozenset[str] = _terms(
    "accepting arriving assembling collecting commissioning consigning "
    "creating_class_instance cycle_counting decommissioning departing destroying "
    "disassembling dispensing encoding entering_exiting holding inspecting installing killing "
    "loading other packing picking receiving removing repackaging repairing replacing "
    "reserving retail_selling sampling sensor_reporting shipping staging_outbound "
    "stock_taking stocking storing transporting unloading unpacking void_shipping"
)
DISPOSITIONS: frozenset[str] = _terms(
    "active available completeness_inferred completeness_verified conformant container_closed "
    "container_open damaged destroyed dispensed disposed encoded expired in_progress "
    "in_transit inactive mismatch_class mismatch_instance mismatch_quantity needs_replacement "
    "no_pedigree_match non_conformant non_sellable_other partially_dispensed recalled "
    "reserved retail_sold returned sellable_accessible sellable_not_accessible stolen "
    "unavailable unknown"
)
BIZ_TRANSACTION_TYPES: frozenset[str] = _terms(
    "bol cert desadv inv pedigree po poc prodorder recadv rma testprd testres upevt"
)
SOURCE_DEST_TYPES: frozenset[str] = _terms(
    "location owning_party possessing_party"
)
ERROR_REASONS: frozenset[str] = _terms(
    "did_not_occur incorrect_data"
)
MEASUREMENT_TYPES: frozenset[str] = _terms(
    "AbsoluteHumidity AbsorbedDose AbsorbedDoseRate Acceleration Altitude AmountOfSubstance "
    "AmountOfSubstancePerUnitVolume Angle AngularAcceleration AngularMomentum AngularVelocity "
    "Area Capacitance Conductance Conductivity Count Density Dimensionless DoseEquivalent "
    "DoseEquivalentRate DynamicViscosity ElectricCharge ElectricCurrent "
    "ElectricCurrentDensity ElectricFieldStrength Energy Exposure Force Frequency Illuminance "
    "Inductance Irradiance KinematicViscosity Length LinearMomentum Luminance LuminousFlux "
    "LuminousIntensity MagneticFlux MagneticFluxDensity MagneticVectorPotential Mass "
    "MassConcentration MassFlowRate MassPerAreaTime MemoryCapacity MolalityOfSolute "
    "MolarEnergy MolarMass MolarVolume Power Pressure RadiantFlux RadiantIntensity "
    "Radioactivity RelativeHumidity Resistance Resistivity SolidAngle SpecificVolume Speed "
    "SurfaceDensity SurfaceTension Temperature Time Torque Voltage Volume VolumeFlowRate "
    "VolumeFraction VolumetricFlux Wavenumber"
)
SENSOR_ALERTS: frozenset[str] = _terms(
    "ALARM_CONDITION ERROR_CONDITION"
)
COMPONENTS: frozenset[str] = _terms(
    "altitude axial_distance azimuth easting elevation_angle height latitude longitude "
    "northing polar_angle spherical_radius x y z"
)

# field name (as in the XML binding) -> (known bare terms, URI prefix the term is appended to)
BARE_TERMS: dict[str, tuple[frozenset[str], str]] = {
    "bizStep": (BIZ_STEPS, CBV + "BizStep-"),
    "disposition": (DISPOSITIONS, CBV + "Disp-"),
    "set": (DISPOSITIONS, CBV + "Disp-"),  # persistentDisposition
    "unset": (DISPOSITIONS, CBV + "Disp-"),
    "bizTransaction.type": (BIZ_TRANSACTION_TYPES, CBV + "BTT-"),
    "source.type": (SOURCE_DEST_TYPES, CBV + "SDT-"),
    "destination.type": (SOURCE_DEST_TYPES, CBV + "SDT-"),
    "reason": (ERROR_REASONS, CBV + "ER-"),
    "sensorReport.type": (MEASUREMENT_TYPES, GS1_VOC),
    "exception": (SENSOR_ALERTS, GS1_VOC),
    "component": (COMPONENTS, CBV + "Comp-"),
}

# CBV 1.x URN vocabulary -> CBV 2.0 Web URI (CBV 2.0, 8.9 rule 14).
URN_TO_WEB: tuple[tuple[str, str], ...] = (
    ("urn:epcglobal:cbv:bizstep:", CBV + "BizStep-"),
    ("urn:epcglobal:cbv:disp:", CBV + "Disp-"),
    ("urn:epcglobal:cbv:btt:", CBV + "BTT-"),
    ("urn:epcglobal:cbv:sdt:", CBV + "SDT-"),
    ("urn:epcglobal:cbv:er:", CBV + "ER-"),
)

# CURIE prefixes of the standard vocabularies, expanded wherever they start a value (rule 15).
STANDARD_PREFIXES: dict[str, str] = {"gs1": GS1_VOC, "cbv": CBV}
