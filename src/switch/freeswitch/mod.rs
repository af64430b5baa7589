//! The FreeSWITCH backend over the Event Socket (ESL).
