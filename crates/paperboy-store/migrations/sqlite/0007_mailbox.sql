-- The mailbox each queued mail goes to: the recipient lower-cased with any `+tag` left out
-- (see `EmailAddress::mailbox`), so that the mail one person may be sent a day is counted across
-- every tagged variant of their address, and across subscribing and signing in.
ALTER TABLE outbox ADD COLUMN mailbox TEXT;
UPDATE outbox SET mailbox = lower(
    CASE
        WHEN instr(substr(recipient, 1, instr(recipient, '@') - 1), '+') > 0
        THEN substr(recipient, 1, instr(recipient, '+') - 1) || substr(recipient, instr(recipient, '@'))
        ELSE recipient
    END
);
CREATE INDEX outbox_by_mailbox ON outbox (mailbox, created_at);
