"""The going-live rehearsal and the stand-ins it runs on."""
