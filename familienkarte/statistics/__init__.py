"""Statistics: rollup tables rebuilt from the raw facts (redemptions, verifications, cards), never incremented."""
