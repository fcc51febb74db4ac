-- QC revisions: the state an alert event leaves its alert in (pending, firing, resolved), as the engine
-- emitted it, so a stored event reads back whole (a `corrected` event may leave the alert firing or put
-- it back to pending). NULL for events stored before.
ALTER TABLE alert_events ADD COLUMN IF NOT EXISTS state text;
