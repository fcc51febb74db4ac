-- A station's levelling history (schemas/datums.py): from each UTC date, the height of the station zero
-- above the China 1985 National Height Datum and chart datum, mirrored from the registry as JSON
-- ([{"from": "2019-04-16", "zero_above_national_1985_m": -1.929, "zero_above_chart_m": 0.086}, …]),
-- so the API can convert water levels between datums (datum=).
ALTER TABLE stations ADD COLUMN IF NOT EXISTS datum_levellings jsonb NOT NULL DEFAULT '[]';

-- Each variable's reading resolution (schemas/vocabulary.yaml, a power of ten in its unit): the API rounds
-- aggregates to it.
ALTER TABLE variables ADD COLUMN IF NOT EXISTS resolution double precision;
