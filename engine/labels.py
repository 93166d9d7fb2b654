"""Label sets in their standard order."""

# NIH ChestX-ray14 findings, in the order of the public release and the seed paper.
CHESTXRAY14 = (
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
    "Consolidation",
    "Edema",
    "Emphysema",
    "Fibrosis",
    "Pleural_Thickening",
    "Hernia",
)

LIVER = ("background", "liver")
