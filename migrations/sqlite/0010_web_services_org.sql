-- Web services are listed and counted per org (an org may have at most
-- limits.web_services_per_org of them): without this, both read every org's rows.
CREATE INDEX web_services_org ON web_services (org_id);
