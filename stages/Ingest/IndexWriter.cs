using BottleneckPipeline.Index;
using Microsoft.Data.Sqlite;

namespace BottleneckPipeline.Ingest;

/// <summary>
/// Brings the index in line with one ingest result in a single transaction: a reader sees the old
/// index or the new one, never half. Only differing rows are written, through prepared commands whose
/// parameters are reused, so an unchanged re-ingest writes almost nothing.
/// </summary>
internal static class IndexWriter
{
    public static void Write(IndexDb db, IngestResult result, Dictionary<string, FileRow> storedFiles, List<string> removedFiles)
    {
        using var tx = db.Begin();
        WriteFiles(db, tx, result.Files, storedFiles, removedFiles);
        WriteClasses(db, tx, result.Classes);
        WriteExamples(db, tx, result.Examples);
        WriteRejects(db, tx, result.Rejects);
        ReleaseFileStateQuarantine(db, tx);
        new IngestMeta(result.Root, result.IndexHash, DateTime.UtcNow).Write(db, tx);
        tx.Commit();
    }

    /// <summary>
    /// Extract quarantines a file that changed or vanished after Ingest; this ingest has just looked
    /// at every file again, so those verdicts are stale. Dropping them lets Extract try the content
    /// again (a file back as it was, a share that was briefly away) instead of excluding it for good.
    /// Decode failures stay: they belong to the content.
    /// </summary>
    private static void ReleaseFileStateQuarantine(IndexDb db, SqliteTransaction tx)
    {
        using var cmd = db.Command("DELETE FROM quarantine WHERE kind IN ($changed, $missing);", tx);
        cmd.Parameters.AddWithValue("$changed", QuarantineKind.Changed.ToColumn());
        cmd.Parameters.AddWithValue("$missing", QuarantineKind.Missing.ToColumn());
        cmd.ExecuteNonQuery();
    }

    private static void WriteFiles(IndexDb db, SqliteTransaction tx, IReadOnlyList<FileRow> rows, Dictionary<string, FileRow> stored, List<string> removed)
    {
        using (var delete = db.Command("DELETE FROM files WHERE rel_path = $p;", tx))
        {
            var p = delete.Parameters.Add("$p", SqliteType.Text);
            delete.Prepare();
            foreach (var path in removed)
            {
                p.Value = path;
                delete.ExecuteNonQuery();
            }
        }
        using var upsert = db.Command(
            "INSERT OR REPLACE INTO files(rel_path, class, size, mtime_ns, content_id, width, height, format) VALUES ($p, $c, $s, $m, $id, $w, $h, $f);", tx);
        var (pp, pc, ps, pm, pid, pw, ph, pf) = (
            upsert.Parameters.Add("$p", SqliteType.Text), upsert.Parameters.Add("$c", SqliteType.Text),
            upsert.Parameters.Add("$s", SqliteType.Integer), upsert.Parameters.Add("$m", SqliteType.Integer),
            upsert.Parameters.Add("$id", SqliteType.Text), upsert.Parameters.Add("$w", SqliteType.Integer),
            upsert.Parameters.Add("$h", SqliteType.Integer), upsert.Parameters.Add("$f", SqliteType.Text));
        upsert.Prepare();
        foreach (var r in rows)
        {
            if (stored.TryGetValue(r.RelPath, out var old) && old == r) continue;
            pp.Value = r.RelPath; pc.Value = r.Class; ps.Value = r.Size; pm.Value = r.MtimeNs;
            pid.Value = r.ContentId; pw.Value = r.Width; ph.Value = r.Height; pf.Value = r.Format;
            upsert.ExecuteNonQuery();
        }
    }

    private static void WriteClasses(IndexDb db, SqliteTransaction tx, IReadOnlyList<string> classes)
    {
        var stored = new List<string>();
        using (var read = db.Command("SELECT name FROM classes ORDER BY label_id;", tx))
        using (var r = read.ExecuteReader())
            while (r.Read()) stored.Add(r.GetString(0));
        if (stored.SequenceEqual(classes, StringComparer.Ordinal)) return;
        db.Exec("DELETE FROM classes;", tx);
        using var insert = db.Command("INSERT INTO classes(label_id, name) VALUES ($id, $n);", tx);
        var (pid, pn) = (insert.Parameters.Add("$id", SqliteType.Integer), insert.Parameters.Add("$n", SqliteType.Text));
        insert.Prepare();
        for (var i = 0; i < classes.Count; i++)
        {
            pid.Value = i; pn.Value = classes[i];
            insert.ExecuteNonQuery();
        }
    }

    private static void WriteExamples(IndexDb db, SqliteTransaction tx, IReadOnlyList<ExampleRow> examples)
    {
        var stored = new Dictionary<(string, string), ExampleRow>();
        using (var read = db.Command("SELECT content_id, class, split, group_key, conflict, rel_path FROM examples;", tx))
        using (var r = read.ExecuteReader())
            while (r.Read())
            {
                var e = new ExampleRow(r.GetString(0), r.GetString(1), r.GetString(2), r.IsDBNull(3) ? null : r.GetString(3), r.GetInt64(4) != 0,
                    r.GetString(5));
                stored[(e.ContentId, e.Class)] = e;
            }

        var current = new HashSet<(string, string)>(examples.Count);
        using var upsert = db.Command(
            "INSERT OR REPLACE INTO examples(content_id, class, split, group_key, conflict, rel_path) VALUES ($id, $c, $s, $g, $x, $p);", tx);
        var (pid, pc, ps, pg, px, pp) = (
            upsert.Parameters.Add("$id", SqliteType.Text), upsert.Parameters.Add("$c", SqliteType.Text),
            upsert.Parameters.Add("$s", SqliteType.Text), upsert.Parameters.Add("$g", SqliteType.Text),
            upsert.Parameters.Add("$x", SqliteType.Integer), upsert.Parameters.Add("$p", SqliteType.Text));
        upsert.Prepare();
        foreach (var e in examples)
        {
            current.Add((e.ContentId, e.Class));
            if (stored.TryGetValue((e.ContentId, e.Class), out var old) && old == e) continue;
            pid.Value = e.ContentId; pc.Value = e.Class; ps.Value = e.Split; pg.Value = (object?)e.GroupKey ?? DBNull.Value;
            px.Value = e.Conflict ? 1 : 0; pp.Value = e.RelPath;
            upsert.ExecuteNonQuery();
        }

        using var delete = db.Command("DELETE FROM examples WHERE content_id = $id AND class = $c;", tx);
        var (did, dc) = (delete.Parameters.Add("$id", SqliteType.Text), delete.Parameters.Add("$c", SqliteType.Text));
        delete.Prepare();
        foreach (var key in stored.Keys.Where(k => !current.Contains(k)))
        {
            did.Value = key.Item1; dc.Value = key.Item2;
            delete.ExecuteNonQuery();
        }
    }

    private static void WriteRejects(IndexDb db, SqliteTransaction tx, IReadOnlyList<(string RelPath, string Reason)> rejects)
    {
        db.Exec("DELETE FROM rejects;", tx);
        using var insert = db.Command("INSERT OR REPLACE INTO rejects(rel_path, reason) VALUES ($p, $r);", tx);
        var (pp, pr) = (insert.Parameters.Add("$p", SqliteType.Text), insert.Parameters.Add("$r", SqliteType.Text));
        insert.Prepare();
        foreach (var (path, reason) in rejects)
        {
            pp.Value = path; pr.Value = reason;
            insert.ExecuteNonQuery();
        }
    }
}
