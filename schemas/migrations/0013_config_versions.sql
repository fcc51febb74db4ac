-- Provenance: every QC flag and indicator value names the configuration version that produced it.
-- A version is one station's configuration of one kind (qc: QC series + registry entry; indicators:
-- registry entry + indicator parameters + SST climatology) with the code version applying it
-- (schemas/provenance.py); each distinct one is numbered once here.
CREATE TABLE IF NOT EXISTS config_versions (
    version_id    integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('qc', 'indicators')),
    station_id    text NOT NULL,
    digest        text NOT NULL,
    code_version  text NOT NULL,
    document      jsonb NOT NULL,
    first_used_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, station_id, digest)
);

-- NULL: stored before versions were recorded, or not judged (QC off).
ALTER TABLE observations ADD COLUMN IF NOT EXISTS qc_version integer;
ALTER TABLE indicators ADD COLUMN IF NOT EXISTS version integer;
