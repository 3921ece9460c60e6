-- A connection started in the web console completes only in the same browser session: the
-- state keeps a digest derived from that session (never the session itself), and the redirect
-- compares it with the session of the browser that arrives. NULL: started through the API,
-- completed by whoever holds the authorization URL, as before.
ALTER TABLE oauth_states ADD COLUMN browser_binding TEXT;
