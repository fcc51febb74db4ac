-- Data status: an operator marks a range of a station's series verified (reviewed) or, to take a
-- review back, preliminary again. A reading is verified when the newest review covering its station,
-- variable and time says so; every other reading is preliminary. Reviews are read when readings are
-- served (the API's time series and exports), so observations are not rewritten.
CREATE TABLE IF NOT EXISTS data_reviews (
    review_id   bigserial PRIMARY KEY,
    station_id  text NOT NULL,
    variable    text,                         -- NULL: every variable of the station
    time_from   timestamptz NOT NULL,
    time_to     timestamptz NOT NULL,         -- exclusive
    status      text NOT NULL CHECK (status IN ('verified', 'preliminary')),
    note        text NOT NULL DEFAULT '',
    operator    text NOT NULL REFERENCES operators (username),
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (time_to > time_from)
);
CREATE INDEX IF NOT EXISTS data_reviews_station_idx ON data_reviews (station_id, time_from);
