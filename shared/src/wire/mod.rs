// sans-IO HTTP/1.1 wire code
