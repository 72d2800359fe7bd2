"""Static checks that keep project-wide mechanisms from eroding into conventions."""
