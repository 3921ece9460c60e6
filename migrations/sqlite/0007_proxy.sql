-- Proxy mode (issue 12): a credential's upstream base URL and response cap, a JSON object
-- (`{"base_url", "max_response_bytes"}`, both optional). Never secret.
ALTER TABLE credentials ADD COLUMN proxy TEXT NOT NULL DEFAULT '{}';
