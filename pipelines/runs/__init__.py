"""What the run CLIs share: the dates a run covers, backfills, and the results of each date."""
