"""Global instance recognition (LBR): instance labels of the map's points and recognitions of the queries."""
