"""The fixed vocabularies of partners and benefits: stable codes in the data, translated labels for people."""

from __future__ import annotations

from typing import Final

from familienkarte.errors import N_

CATEGORIES: Final[dict[str, str]] = {
    "culture": N_("Culture"),
    "sport": N_("Sport and exercise"),
    "leisure": N_("Leisure and outings"),
    "education": N_("Education"),
    "food": N_("Food and drink"),
    "shopping": N_("Shopping"),
    "health": N_("Health"),
    "mobility": N_("Mobility"),
    "services": N_("Services"),
    "other": N_("Other"),
}

LEGAL_FORMS: Final[dict[str, str]] = {
    "sole_trader": N_("Sole trader"),
    "gbr": N_("Civil-law partnership (GbR)"),
    "gmbh": N_("Limited company (GmbH, UG)"),
    "ggmbh": N_("Non-profit limited company (gGmbH)"),
    "ag": N_("Stock corporation (AG)"),
    "ev": N_("Registered association (e. V.)"),
    "foundation": N_("Foundation"),
    "public": N_("Public body"),
    "other": N_("Other"),
}

ACCESSIBILITY_FEATURES: Final[dict[str, str]] = {
    "step_free": N_("Step-free access"),
    "accessible_toilet": N_("Accessible toilet"),
    "baby_changing": N_("Baby changing table"),
    "pram_friendly": N_("Room for prams"),
    "hearing_loop": N_("Hearing loop"),
    "guide_dogs": N_("Guide dogs welcome"),
    "quiet_hours": N_("Quiet hours"),
}

# Monday first (ISO 8601); the index is the bit in a benefit's weekday mask.
WEEKDAYS: Final[dict[str, str]] = {
    "mon": N_("Monday"),
    "tue": N_("Tuesday"),
    "wed": N_("Wednesday"),
    "thu": N_("Thursday"),
    "fri": N_("Friday"),
    "sat": N_("Saturday"),
    "sun": N_("Sunday"),
}
