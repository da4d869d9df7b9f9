"""Sources: where raw records come from (files, syslog, HTTP/HEC). Each yields RawRecord."""
