import dataclasses

import duckdb
import pyarrow as pa
import pytest

from pipeline.records import (
    TABLES,
    ClipRecord,
    RejectionRecord,
    ShotRecord,
    ShotScores,
    TagRecord,
    VideoRecord,
    arrow_schema,
    from_table,
    read_parquet,
    to_table,
    write_parquet,
)

SAMPLES = {
    "videos": [
        VideoRecord(
            video_id="a" * 64,
            path="/x/ep01.mkv",
            size_bytes=123,
            container="matroska,webm",
            codec="h264",
            width=1920,
            height=1080,
            fps="24000/1001",
            time_base="1/1000",
            frames=34000,
            duration_s=1418.4,
            pix_fmt="yuv420p10le",
            rotation=90,
            has_audio=True,
            variable_frame_rate=True,
        ),  # fmt: skip
        VideoRecord(
            video_id="b" * 64,
            path="/x/ep02.mp4",
            size_bytes=9,
            container="mov,mp4",
            codec="hevc",
            width=640,
            height=360,
            fps="24",
            time_base="1/12288",
            frames=10,
            duration_s=0.42,
            pix_fmt="yuv420p",
        ),  # fmt: skip
    ],
    "shots": [
        ShotRecord(
            shot_id="aaaa:0-50",
            video_id="a" * 64,
            index=0,
            start_frame=0,
            end_frame=50,
            start_pts=0,
            end_pts=50 * 1001,
            time_base="1/24000",
            start_s=0.0,
            end_s=2.127,
            detector="transnetv2",
            boundary_in="start",
            boundary_out="dissolve",
        ),  # fmt: skip
    ],
    "clips": [
        ClipRecord(
            clip_id="aaaa_0_50",
            shot_id="aaaa:0-50",
            video_id="a" * 64,
            start_frame=0,
            end_frame=50,
            start_s=0.0,
            end_s=2.127,
            width=512,
            height=288,
            fps="24000/1001",
        ),  # fmt: skip
        ClipRecord(
            clip_id="aaaa_60_90",
            shot_id="aaaa:60-90",
            video_id="a" * 64,
            start_frame=60,
            end_frame=90,
            start_s=2.5,
            end_s=3.79,
            width=512,
            height=288,
            fps="24000/1001",
            status="duplicate",
            duplicate_of="bbbb_0_30",
            tier="A",
            shard="shard-000001.tar",
            taxonomy_version="pks-1.0",
            directive="<tag>camera.movement=pan_left</tag>",
        ),  # fmt: skip
    ],
    "tags": [
        TagRecord(
            clip_id="aaaa_0_50",
            axis="camera",
            field="camera.movement",
            value="pan_left",
            tag_id=42,
            confidence=0.875,
            source="camera_motion",
            taxonomy_version="pks-1.0",
        ),  # fmt: skip
    ],
    "scores": [
        ShotScores(
            shot_id="aaaa:0-50",
            video_id="a" * 64,
            source_path="/x/ep01.mkv",
            start_frame=0,
            end_frame=50,
            start_s=0.0,
            end_s=2.127,
            frames=51,
            duration_s=2.127,
            fps=23.976,
            width=1920,
            height=1080,
        ),  # fmt: skip
    ],
    "rejections": [
        RejectionRecord(
            stage="probe",
            subject="video",
            subject_id="c" * 64,
            source_path="/x/bad.mp4",
            rule="unreadable",
            reason="not a readable video container",
        ),  # fmt: skip
        RejectionRecord(
            stage="filter",
            subject="clip",
            subject_id="aaaa_0_50",
            source_path="/x/ep01.mkv",
            rule="min_duration_s",
            reason="shorter than 1.0 s",
            measured=0.42,
            threshold=">= 1.0",
        ),  # fmt: skip
    ],
}


def test_every_table_has_samples_and_documented_columns():
    assert set(SAMPLES) == set(TABLES)
    for record_type in TABLES.values():
        schema = arrow_schema(record_type)
        assert schema.names == [f.name for f in dataclasses.fields(record_type)]
        for f in schema:
            assert f.metadata[b"doc"], f"{record_type.__name__}.{f.name} has no doc"


def test_schema_types_follow_annotations_and_overrides():
    schema = arrow_schema(ClipRecord)
    assert schema.field("start_frame").type == pa.int64()
    assert schema.field("width").type == pa.int32()
    assert not schema.field("clip_id").nullable
    assert schema.field("duplicate_of").nullable
    assert arrow_schema(TagRecord).field("confidence").type == pa.float32()
    assert arrow_schema(VideoRecord).field("has_audio").type == pa.bool_()


@pytest.mark.parametrize("name", sorted(TABLES))
def test_parquet_round_trip(tmp_path, name):
    record_type = TABLES[name]
    path = write_parquet(SAMPLES[name], record_type, tmp_path / "manifest" / f"{name}.parquet")
    assert not path.with_name(path.name + ".tmp").exists()
    back = read_parquet(path, record_type)
    assert len(back) == len(SAMPLES[name])
    float32 = {f.name for f in arrow_schema(record_type) if f.type == pa.float32()}
    for got, want in zip(back, SAMPLES[name], strict=True):
        for key, value in dataclasses.asdict(want).items():
            if key in float32 and value is not None:  # stored at float32 precision
                assert getattr(got, key) == pytest.approx(value, rel=1e-6), key
            else:
                assert getattr(got, key) == value, key


def test_duckdb_reads_the_manifest(tmp_path):
    for name, record_type in TABLES.items():
        write_parquet(SAMPLES[name], record_type, tmp_path / f"{name}.parquet")
    con = duckdb.connect()
    rows = con.execute(
        f"""SELECT c.clip_id, c.status, t.field, t.value
            FROM '{tmp_path}/clips.parquet' c LEFT JOIN '{tmp_path}/tags.parquet' t USING (clip_id)
            ORDER BY c.clip_id"""
    ).fetchall()
    assert rows == [
        ("aaaa_0_50", "kept", "camera.movement", "pan_left"),
        ("aaaa_60_90", "duplicate", None, None),
    ]
    by_rule = con.execute(
        f"SELECT rule, measured FROM '{tmp_path}/rejections.parquet' WHERE measured IS NOT NULL"
    ).fetchall()
    assert by_rule == [("min_duration_s", 0.42)]
    types = dict(
        con.execute(f"DESCRIBE SELECT * FROM '{tmp_path}/videos.parquet'").fetchall()[i][:2] for i in range(3)
    )
    assert types["video_id"] == "VARCHAR"


def test_empty_table_keeps_its_schema(tmp_path):
    path = write_parquet([], RejectionRecord, tmp_path / "rejections.parquet")
    assert read_parquet(path, RejectionRecord) == []
    con = duckdb.connect()
    assert con.execute(f"SELECT count(*) FROM '{path}'").fetchone() == (0,)


def test_wrong_record_type_and_mismatched_table_are_errors():
    with pytest.raises(TypeError, match="expected ClipRecord"):
        to_table(SAMPLES["shots"], ClipRecord)
    table = to_table(SAMPLES["shots"], ShotRecord).drop(["detector"])
    with pytest.raises(ValueError, match=r"missing \['detector'\]"):
        from_table(table, ShotRecord)
