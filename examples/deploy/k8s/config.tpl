# Rendered by `sekret inject` into /config/config.yaml (0600).
database:
  user: "{{ sekret "sekret://db-credentials#username" }}"
  password: "{{ sekret "sekret://db-credentials#password" }}"
cohere:
  api_key: "{{ sekret "sekret://cohere-api-key" }}"
