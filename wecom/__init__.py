"""WeCom (企业微信), the leaf that talks to it: callback crypto and parsing (`crypto`,
`callbacks`), the HTTP client with its token cache (`client`), typed API calls grouped like
WeCom's documentation (`externalcontact`, `groupchat`, `kf`, `message`, `media`, `user`), and a
local sandbox that stands in for WeCom (`sandbox`). Imports nothing else of mombot's."""
