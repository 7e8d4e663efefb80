-- Why the last discovery that found a device could not query it with the profile's credential (a Failure:
-- {class, message, code?}, e.g. class auth "the host rejected the credentials"); null when it could or had none.
ALTER TABLE "devices" ADD COLUMN IF NOT EXISTS "discovery_error" jsonb;
