"""The domain core: the rules of the business and the one outbox.

Settings (`config`) and time (`clock`); lifecycle stages and the dates mothers write
(`stages`, `dates`); tags and channel codes (`tags`, `channels`); advisors (`advisors`);
placeholders in texts (`placeholders`); what work gets from its process (`context`); and
`outbox`, the one path for every message to a mother, an advisor or a group. Imports only the
leaves (`wecom`, `store`)."""
