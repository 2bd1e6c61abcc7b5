"""The registry domain (vendors, devices, captures). Built on ledger/ in later issues."""
