"""Organizations (the tenant's profile), team members, invitations and the mail that carries them."""
