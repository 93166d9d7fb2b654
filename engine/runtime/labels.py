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


# What the shipped tasks accept (engine.runtime.card.Acceptance fields), for training to write into new cards.
LIVER_CT_ACCEPTS = {
    "description": "axial abdominal CT", "modalities": ("CT",),
    "body_parts": ("ABDOMEN", "ABDOMENPELVIS", "CHESTABDOMEN", "CHESTABDOMENPELVIS", "LIVER", "TRUNK"),
    "planes": ("axial",), "pixel_spacing_mm": (0.4, 3.5), "min_slices": 2,
}
CHEST_FILM_ACCEPTS = {
    "description": "PA or AP chest radiographs", "modalities": ("CR", "DX", "XR"), "body_parts": ("CHEST",),
    "views": ("PA", "AP"),
}
