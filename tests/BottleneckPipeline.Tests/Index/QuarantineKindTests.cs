using BottleneckPipeline.Embedding;
using BottleneckPipeline.Index;
using BottleneckPipeline.Tests.Fixtures;
using Microsoft.Data.Sqlite;

namespace BottleneckPipeline.Tests.Index;

/// <summary>The quarantine's kind column: written by Extract, released by kind by Ingest, and given to
/// the rows of an index written by the build before it existed.</summary>
public class QuarantineKindTests
{
    [Fact]
    public void An_index_of_schema_1_opens_and_its_quarantine_rows_get_their_kind()
    {
        using var bed = new IngestBed();
        TestImages.Write(bed.File("cats/a.png"), 1);
        TestImages.Write(bed.File("dogs/b.png"), 2);
        // The index as the previous build left it: schema 1, its kinds only in the reason text.
        using (var conn = new SqliteConnection($"Data Source={bed.IndexPath};Pooling=False"))
        {
            conn.Open();
            Exec(conn, Schema.V1);
            Exec(conn, """
                PRAGMA user_version = 1;
                INSERT INTO quarantine VALUES ('c1', 'cats/x.png', 'changed since ingest: re-run Ingest', 'extract', 't');
                INSERT INTO quarantine VALUES ('c2', 'cats/y.png', 'file deleted since ingest: re-run Ingest', 'extract', 't');
                INSERT INTO quarantine VALUES ('c3', 'cats/z.png', 'image is truncated or corrupt', 'extract', 't');
                INSERT INTO meta VALUES ('index_hash', 'from-schema-1');
                """);
        }

        using (var db = IndexDb.Open(bed.IndexPath))
        {
            Assert.Equal(2L, db.Scalar("PRAGMA user_version;"));
            Assert.Equal("from-schema-1", db.Scalar("SELECT value FROM meta WHERE key = 'index_hash';"));
        }
        Assert.Equal(["c1|changed", "c2|missing", "c3|decode"], bed.Query("SELECT content_id, kind FROM quarantine ORDER BY content_id"));

        bed.Run(); // Ingest on the migrated index releases the file-state rows
        Assert.Equal(["c3|decode"], bed.Query("SELECT content_id, kind FROM quarantine"));
    }

    [Fact]
    public void Ingest_releases_quarantine_rows_by_kind_whatever_their_message_says()
    {
        using var bed = new IngestBed();
        TestImages.Write(bed.File("cats/a.png"), 1);
        TestImages.Write(bed.File("dogs/b.png"), 2);
        using (var db = IndexDb.Open(bed.IndexPath))
        {
            Insert(db, "c1", QuarantineKind.Changed, "the file was edited (a message reworded some day)");
            Insert(db, "c2", QuarantineKind.Missing, "gone");
            Insert(db, "c3", QuarantineKind.Decode, ImagePreparer.MissingReason); // a decode failure, whatever its text
        }
        bed.Run();
        Assert.Equal(["c3|decode"], bed.Query("SELECT content_id, kind FROM quarantine"));
    }

    [Fact]
    public void A_kind_outside_the_three_is_refused_by_the_index()
    {
        using var dir = new TempDir();
        using var db = IndexDb.Open(dir["index.sqlite"]);
        var e = Assert.Throws<SqliteException>(() =>
            db.Exec("INSERT INTO quarantine(content_id, rel_path, reason, kind, stage, at) VALUES ('c', 'p', 'r', 'whatever', 'extract', 't');"));
        Assert.Contains("CHECK", e.Message);
    }

    private static void Insert(IndexDb db, string id, QuarantineKind kind, string reason)
    {
        using var cmd = db.Command("INSERT INTO quarantine(content_id, rel_path, reason, kind, stage, at) VALUES ($c, 'cats/' || $c, $r, $k, 'extract', 't');");
        cmd.Parameters.AddWithValue("$c", id);
        cmd.Parameters.AddWithValue("$r", reason);
        cmd.Parameters.AddWithValue("$k", kind.ToColumn());
        cmd.ExecuteNonQuery();
    }

    private static void Exec(SqliteConnection conn, string sql)
    {
        using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }
}
