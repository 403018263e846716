using BottleneckPipeline.Runtime;
using Microsoft.Data.Sqlite;

namespace BottleneckPipeline.Index;

/// <summary>
/// The workspace's SQLite index: which files exist, their content ids, labels and splits, what was
/// rejected or quarantined, and the runs of every stage. WAL mode and a busy timeout let a reader
/// (a later stage, or a person with sqlite3) look while a writer works.
/// </summary>
public sealed class IndexDb : IDisposable
{
    public static int SchemaVersion => Schema.Steps.Length;

    public SqliteConnection Connection { get; }
    public string Path { get; }

    private IndexDb(SqliteConnection connection, string path)
    {
        Connection = connection;
        Path = path;
    }

    /// <summary>Opens (creating if needed) the index and brings its schema up to date. Transient
    /// errors of a shared filesystem (busy, IO) are retried.</summary>
    public static IndexDb Open(string path, bool create = true)
    {
        if (!create && !File.Exists(path))
            throw new InputException($"index not found: {path}. Run the Ingest stage first (make ingest).");
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        CheckHeader(path);
        var cs = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = create ? SqliteOpenMode.ReadWriteCreate : SqliteOpenMode.ReadWrite,
            Pooling = false,
            DefaultTimeout = 30,
        }.ToString();
        return TransientIo.Run(() => Connect(path, cs, conn =>
        {
            Exec(conn, "PRAGMA busy_timeout = 30000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;");
            Check(conn, path);
            Migrate(conn, path);
        }));
    }

    /// <summary>
    /// Opens the index for reading only, for Extract shards: many of them, on several machines,
    /// read it at once while no stage writes it (they hold the workspace lock shared). WAL's
    /// shared-memory file cannot be shared across machines on NFS, so the file is opened as
    /// immutable (no locks, no -shm), unless a crashed writer left changes in the -wal file,
    /// which only a normal open sees.
    /// </summary>
    public static IndexDb OpenReadOnly(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        if (!File.Exists(full))
            throw new InputException($"index not found: {path}. Run the Ingest stage first (make ingest).");
        CheckHeader(path);
        var wal = new FileInfo(full + "-wal");
        var dataSource = wal.Exists && wal.Length > 0
            ? full
            : "file:" + Uri.EscapeDataString(full).Replace("%2F", "/", StringComparison.Ordinal) + "?immutable=1";
        var cs = new SqliteConnectionStringBuilder { DataSource = dataSource, Mode = SqliteOpenMode.ReadOnly, Pooling = false, DefaultTimeout = 30 }.ToString();
        return TransientIo.Run(() => Connect(path, cs, conn =>
        {
            Check(conn, path);
            var version = Convert.ToInt32(Scalar(conn, "PRAGMA user_version;"));
            if (version != SchemaVersion)
                throw new InputException($"index {path} has schema version {version}, this build reads {SchemaVersion}. " +
                                         "Run the Ingest stage (make ingest) with this build first.");
        }));
    }

    private static IndexDb Connect(string path, string connectionString, Action<SqliteConnection> prepare)
    {
        var conn = new SqliteConnection(connectionString);
        try
        {
            conn.Open();
            prepare(conn);
        }
        catch (SqliteException e) when (IsCorruption(e))
        {
            conn.Dispose();
            throw new IndexCorruptException(path, $"not a readable SQLite database: {e.Message}", e);
        }
        catch
        {
            conn.Dispose();
            throw;
        }
        return new IndexDb(conn, path);
    }

    private static void Check(SqliteConnection conn, string path)
    {
        var check = Scalar(conn, "PRAGMA quick_check;") as string;
        if (check != "ok")
            throw new IndexCorruptException(path, check ?? "its check gave no answer");
    }

    private static void Migrate(SqliteConnection conn, string path)
    {
        var version = Convert.ToInt32(Scalar(conn, "PRAGMA user_version;"));
        if (version > SchemaVersion || version < 0)
            throw new InputException($"index {path} has schema version {version}, newer than this build understands ({SchemaVersion}): " +
                                     $"it was written by a newer build (use that build), or its header is damaged. {IndexCorruptException.Advice}");
        if (version == SchemaVersion) return;
        try
        {
            using var tx = conn.BeginTransaction();
            for (var step = version; step < SchemaVersion; step++) Exec(conn, Schema.Steps[step], tx);
            Exec(conn, $"PRAGMA user_version = {SchemaVersion};", tx);
            tx.Commit();
        }
        catch (SqliteException e) when (e.SqliteErrorCode == SqliteError)
        {
            // The steps ran on an index of that version when it was one: its tables are not what its version says.
            throw new IndexCorruptException(path, $"its schema version says {version}, but its tables are not of that version: {e.Message}", e);
        }
    }

    private const int SqliteError = 1;

    /// <summary>
    /// Whether SQLite's error says the file is damaged: SQLITE_CORRUPT (and its extended codes),
    /// SQLITE_NOTADB, or a message saying so (a malformed schema, an unsupported file format).
    /// </summary>
    public static bool IsCorruption(SqliteException e) =>
        e.SqliteErrorCode is 11 /* SQLITE_CORRUPT */ or 26 /* SQLITE_NOTADB */ ||
        e.Message.Contains("malformed", StringComparison.OrdinalIgnoreCase) ||
        e.Message.Contains("file is not a database", StringComparison.OrdinalIgnoreCase) ||
        e.Message.Contains("unsupported file format", StringComparison.OrdinalIgnoreCase) ||
        e.Message.Contains("database disk image", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The fields of the file's 100-byte header that SQLite needs before anything else, checked
    /// against what every index this program writes holds: a damaged one can make SQLite open the
    /// file read-only (a write version above 2, reported as a read-only file system), read its text as
    /// UTF-16, or refuse it with a message that names no damage. An empty file is a new index.
    /// </summary>
    private static void CheckHeader(string path)
    {
        Span<byte> h = stackalloc byte[100];
        int read;
        try
        {
            using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            read = RandomAccess.Read(file, h, 0);
        }
        catch (FileNotFoundException) { return; }
        if (read == 0) return;
        if (HeaderProblem(h[..read]) is { } problem) throw new IndexCorruptException(path, problem);
    }

    internal static string? HeaderProblem(ReadOnlySpan<byte> h)
    {
        if (h.Length < 100 || !h[..16].SequenceEqual("SQLite format 3\0"u8)) return "its first bytes are not an SQLite header";
        var pageSize = h[16] << 8 | h[17];
        if (pageSize != 1 && (pageSize < 512 || (pageSize & (pageSize - 1)) != 0)) return $"its header's page size is {pageSize}";
        if (h[18] is not (1 or 2) || h[19] is not (1 or 2)) return $"its header's file format versions are {h[18]} and {h[19]}, not 1 or 2";
        if (h[20] != 0) return $"its header reserves {h[20]} bytes per page, and this program's indexes reserve none";
        if (h[21] != 64 || h[22] != 32 || h[23] != 32) return "its header's payload fractions are not SQLite's 64, 32 and 32";
        var schemaFormat = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(h[44..]);
        // 0 in these two: a database with no table yet (a first run killed after creating it), which SQLite reads as 1.
        if (schemaFormat is < 0 or > 4) return $"its header's schema format is {schemaFormat}";
        var encoding = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(h[56..]);
        if (encoding is not (0 or 1)) return $"its header's text encoding is {encoding}, and this program's indexes are UTF-8 (1)";
        return null;
    }

    /// <summary>
    /// The whole check, for Ingest, which trusts the stored rows of unchanged files: PRAGMA
    /// integrity_check (which, unlike the quick check every open runs, also compares each index with
    /// its table, so a flipped content id is found whichever of the two holds it) and the schema
    /// against this build's.
    /// </summary>
    public void VerifyWhole()
    {
        try
        {
            if (Scalar(Connection, "PRAGMA integrity_check;") is string result && result != "ok")
                throw new IndexCorruptException(Path, result);
            if (SchemaProblem(Connection) is { } problem)
                throw new IndexCorruptException(Path, problem);
        }
        catch (SqliteException e) when (IsCorruption(e))
        {
            throw new IndexCorruptException(Path, e.Message, e);
        }
    }

    /// <summary>
    /// What is wrong with the index's file, or null when SQLite finds nothing: its header, PRAGMA
    /// integrity_check, and its schema against this build's. For an error met while working on the
    /// index (a column gone, a value of the wrong type), to tell damage from a bug. Opens its own
    /// read-only connection.
    /// </summary>
    public static string? Damage(string path)
    {
        if (!File.Exists(path)) return null;
        try
        {
            CheckHeader(path);
            var cs = new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = false, DefaultTimeout = 30 }.ToString();
            using var conn = new SqliteConnection(cs);
            conn.Open();
            if (Scalar(conn, "PRAGMA integrity_check;") is string result && result != "ok") return result;
            var version = Convert.ToInt32(Scalar(conn, "PRAGMA user_version;"));
            return version == SchemaVersion ? SchemaProblem(conn) : null;
        }
        catch (IndexCorruptException e) { return e.Detail; }
        catch (SqliteException e) when (IsCorruption(e)) { return e.Message; }
        catch (SqliteException) { return null; }
    }

    /// <summary>The tables and indexes as this build's schema steps make them (their SQL, whitespace
    /// collapsed), from a fresh in-memory database.</summary>
    private static readonly Lazy<List<string>> ExpectedSchema = new(() =>
    {
        using var conn = new SqliteConnection("Data Source=:memory:");
        conn.Open();
        foreach (var step in Schema.Steps) Exec(conn, step);
        return SchemaOf(conn);
    });

    /// <summary>How the index's schema differs from this build's (a flipped bit in a table's SQL can
    /// still parse: a column renamed, a CHECK that refuses every split), or null.</summary>
    private static string? SchemaProblem(SqliteConnection conn)
    {
        var actual = SchemaOf(conn);
        var expected = ExpectedSchema.Value;
        if (actual.SequenceEqual(expected, StringComparer.Ordinal)) return null;
        var odd = actual.Except(expected, StringComparer.Ordinal).Concat(expected.Except(actual, StringComparer.Ordinal)).First();
        return $"its schema differs from this build's at: {Printable.Name(odd.Length > 120 ? odd[..120] + "..." : odd)}";
    }

    private static List<string> SchemaOf(SqliteConnection conn)
    {
        using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name;";
        using var r = cmd.ExecuteReader();
        var rows = new List<string>();
        while (r.Read())
        {
            var sql = r.IsDBNull(3) ? "" : string.Join(' ', r.GetString(3).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
            rows.Add($"{r.GetString(0)} {r.GetString(1)} on {r.GetString(2)}: {sql}");
        }
        return rows;
    }

    public SqliteTransaction Begin() => Connection.BeginTransaction();

    public SqliteCommand Command(string sql, SqliteTransaction? tx = null)
    {
        var cmd = Connection.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = tx;
        return cmd;
    }

    public int Exec(string sql, SqliteTransaction? tx = null) => Exec(Connection, sql, tx);

    public object? Scalar(string sql, SqliteTransaction? tx = null)
    {
        using var cmd = Command(sql, tx);
        return cmd.ExecuteScalar();
    }

    /// <summary>A value Ingest recorded in the meta table (index_hash, dataset_root, last_ingest_at); null when absent.</summary>
    public string? Meta(string key)
    {
        using var cmd = Command("SELECT value FROM meta WHERE key = $k;");
        cmd.Parameters.AddWithValue("$k", key);
        return cmd.ExecuteScalar() as string;
    }

    private static int Exec(SqliteConnection c, string sql, SqliteTransaction? tx = null)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = tx;
        return cmd.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection c, string sql)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        return cmd.ExecuteScalar();
    }

    public void Dispose() => Connection.Dispose();
}
