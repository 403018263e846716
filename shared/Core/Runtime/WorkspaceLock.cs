namespace BottleneckPipeline.Runtime;

/// <summary>
/// One run at a time per workspace. The lock is an exclusively opened file, so the OS releases it
/// when the process dies, even by kill -9: a stale lock file never blocks the next run.
/// </summary>
internal sealed class WorkspaceLock : IDisposable
{
    private readonly FileStream _stream;
    private readonly string _path;

    private WorkspaceLock(FileStream stream, string path)
    {
        _stream = stream;
        _path = path;
    }

    /// <summary>The lock's file names in a workspace: the lock and the note of its holder.</summary>
    public static IReadOnlyList<string> FileNames { get; } = [".lock", OwnerPath(".lock")];

    /// <param name="cancel">Stops a wait for the lock (Ctrl+C while BP_LOCK_WAIT_SECONDS waits).</param>
    public static WorkspaceLock Acquire(string workspace, string stage, TimeSpan wait, CancellationToken cancel = default) =>
        Acquire(workspace, stage, wait, shared: false, cancel);

    /// <summary>
    /// The lock that Extract shards hold: shared among themselves (any number run at once, on any
    /// machine of a shared filesystem), exclusive of every other run, so no stage rewrites the
    /// index under them and no shard starts while one does.
    /// </summary>
    public static WorkspaceLock AcquireShared(string workspace, string holder, TimeSpan wait, CancellationToken cancel = default) =>
        Acquire(workspace, holder, wait, shared: true, cancel);

    private static WorkspaceLock Acquire(string workspace, string stage, TimeSpan wait, bool shared, CancellationToken cancel)
    {
        var path = Path.Combine(workspace, ".lock");
        var deadline = DateTime.UtcNow + wait;
        while (true)
        {
            try
            {
                Directory.CreateDirectory(workspace);
                // .NET takes flock(LOCK_EX) for FileShare.None and flock(LOCK_SH) otherwise.
                var fs = shared
                    ? new FileStream(path, FileMode.OpenOrCreate, FileAccess.Read, FileShare.ReadWrite)
                    : new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                RecordOwner(path, stage);
                return new WorkspaceLock(fs, path);
            }
            catch (IOException e) when (IsHeldByAnother(e) && DateTime.UtcNow < deadline)
            {
                if (cancel.WaitHandle.WaitOne(200)) cancel.ThrowIfCancellationRequested();
            }
            catch (IOException e) when (IsHeldByAnother(e))
            {
                var holder = TryReadOwner(path);
                throw new LockHeldException(
                    $"workspace {workspace} is in use by another run ({holder}). Wait for it to finish, or stop it; " +
                    "a killed run releases the lock by itself.");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw CannotLock(workspace, path, e);
            }
        }
    }

    /// <summary>Another process holds the lock: flock's EWOULDBLOCK on Linux (the runtime reports the
    /// raw errno), a sharing or lock violation on Windows. Anything else is the file system's fault.</summary>
    private static bool IsHeldByAnother(IOException e) => Errno.Is(e, Errno.WouldBlock, 32 /* ERROR_SHARING_VIOLATION */, 33 /* ERROR_LOCK_VIOLATION */);

    /// <summary>Why the lock file cannot be made, said so the user knows it is the disk, not another run.</summary>
    private static InputException CannotLock(string workspace, string path, Exception e)
    {
        var (why, todo) =
            Errno.Is(e, Errno.ReadOnlyFileSystem) ? ("the workspace is on a read-only file system",
                "remount it read-write or point 'workspace' in the config at a writable folder")
            : Errno.Is(e, Errno.NoSpace, Errno.QuotaExceeded) ? ("the disk holding the workspace is full (no free space or inodes)",
                "free some space or point 'workspace' in the config elsewhere")
            : e is UnauthorizedAccessException ? ("permission denied", "make the workspace writable for this user or point 'workspace' in the config elsewhere")
            : ("the workspace cannot be written", "check that disk, or point 'workspace' in the config elsewhere");
        return new InputException($"cannot create the lock file {path}: {why} ({e.Message}). To fix: {todo}, then run again; work already done is kept.", e);
    }

    private static string OwnerPath(string lockPath) => lockPath + ".owner";

    /// <summary>
    /// The lock file itself cannot be read by a waiting process (the lock covers reads too), so the
    /// holder's name goes in a file beside it. Only messages use it: when it cannot be written (a
    /// full disk), the stale one is removed and the run goes on, to meet the real error where it
    /// writes its work.
    /// </summary>
    private static void RecordOwner(string lockPath, string stage)
    {
        try
        {
            AtomicFile.WriteAllText(OwnerPath(lockPath), $"{stage} pid {Environment.ProcessId}\n");
        }
        catch (IOException)
        {
            try { File.Delete(OwnerPath(lockPath)); } catch (IOException) { }
        }
    }

    private static string TryReadOwner(string lockPath)
    {
        try
        {
            return File.ReadLines(OwnerPath(lockPath)).FirstOrDefault() ?? "unknown process";
        }
        catch (IOException) { return "unknown process"; }
    }

    /// <summary>
    /// Removes the lock's files, then releases it (for clean). Only the holder can do this, so a
    /// lock held by a running stage is never removed; removed while still held, no other run can
    /// have taken it in between.
    /// </summary>
    public void RemoveAndRelease()
    {
        try
        {
            File.Delete(OwnerPath(_path));
            File.Delete(_path);
        }
        finally { _stream.Dispose(); }
    }

    public void Dispose() => _stream.Dispose();
}
