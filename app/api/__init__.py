"""The JSON API (/api/v1): Bearer-token auth, thin handlers over the same services the screens use."""
