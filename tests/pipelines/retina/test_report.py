"""tests for retinacodec/pipelines/retina/report.py's wording helpers."""
from retinacodec.pipelines.retina.report import spoken_list


def test_a_list_of_cell_types_reads_as_in_a_sentence():
    assert spoken_list([]) == ""
    assert spoken_list(["ON"]) == "ON"
    assert spoken_list(["ON", "OFF"]) == "ON and OFF"
    assert spoken_list(name for name in ("ON", "OFF", "ON-OFF")) == "ON, OFF and ON-OFF"
