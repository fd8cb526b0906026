# Values that are sekret:// references are read from the backend; others pass through.
DATABASE_PASSWORD=sekret://db-credentials#password
DATABASE_USER=sekret://db-credentials#username
COHERE_API_KEY=sekret://cohere-api-key
LOG_LEVEL=info
