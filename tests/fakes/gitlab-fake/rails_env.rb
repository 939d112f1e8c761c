# gitlab-fake: a TEST DOUBLE of the slice of GitLab's Rails models that labctl's token script
# uses (User.find_by_username!, PersonalAccessToken.find_by_token, #active?, #revoked?, #revoke!,
# user.personal_access_tokens.where/build, #set_token, #save!, 364.days.from_now). It is not
# GitLab. `gitlab-rails runner` (the stand-in) loads it, as user git, before the script, so the
# script runs for real against the state the fake API serves. As in GitLab, token digests are
# unique, and a token whose expires_at is today or earlier is not active.
require 'date'
require 'digest'
require 'json'

module GitlabFake
  STORE = ENV.fetch('GITLAB_FAKE_STORE', '/var/opt/gitlab-fake/store.json')

  def self.transaction
    File.open("#{STORE}.lock", File::RDWR | File::CREAT, 0o600) do |lock|
      lock.flock(File::LOCK_EX)
      data = JSON.parse(File.read(STORE))
      result = yield data
      File.write("#{STORE}.tmp", JSON.pretty_generate(data))
      File.rename("#{STORE}.tmp", STORE)
      result
    end
  end
end

class RecordNotFound < StandardError; end
class RecordInvalid < StandardError; end

class FakeDuration
  def initialize(days)
    @days = days
  end

  def from_now
    Date.today + @days
  end
end

class Integer
  def days
    FakeDuration.new(self)
  end
end

class PersonalAccessToken
  attr_accessor :id, :user, :name, :scopes, :expires_at, :revoked, :digest

  def initialize(row)
    @id = row['id']
    @user = row['user']
    @name = row['name']
    @scopes = row['scopes']
    @expires_at = row['expires_at'] && Date.parse(row['expires_at'])
    @revoked = row['revoked']
    @digest = row['digest']
  end

  def self.find_by_token(value)
    wanted = Digest::SHA256.hexdigest(value)
    row = GitlabFake.transaction { |data| data['tokens'].find { |t| t['digest'] == wanted } }
    row && new(row)
  end

  def revoked?
    @revoked ? true : false
  end

  def expired?
    !@expires_at.nil? && @expires_at <= Date.today
  end

  def active?
    !revoked? && !expired?
  end

  def revoke!
    @revoked = true
    save!
  end

  def set_token(value)
    @digest = Digest::SHA256.hexdigest(value)
  end

  def to_row
    { 'id' => @id, 'user' => @user, 'name' => @name, 'scopes' => @scopes,
      'expires_at' => @expires_at&.iso8601, 'revoked' => revoked?, 'digest' => @digest }
  end

  def save!
    GitlabFake.transaction do |data|
      if data['tokens'].any? { |t| t['digest'] == @digest && t['id'] != @id }
        raise RecordInvalid, 'Validation failed: Token digest has already been taken'
      end
      @id ||= (data['tokens'].map { |t| t['id'] }.max || 0) + 1
      data['tokens'].reject! { |t| t['id'] == @id }
      data['tokens'] << to_row
    end
    true
  end
end

class TokenRelation
  def initialize(user)
    @user = user
  end

  def where(name:)
    rows = GitlabFake.transaction { |data| data['tokens'].select { |t| t['user'] == @user && t['name'] == name } }
    rows.map { |row| PersonalAccessToken.new(row) }
  end

  def build(name:, scopes:, expires_at:)
    PersonalAccessToken.new('user' => @user, 'name' => name, 'scopes' => scopes,
                            'expires_at' => expires_at.iso8601, 'revoked' => false)
  end
end

class User
  attr_reader :username

  def initialize(username)
    @username = username
  end

  def self.find_by_username!(name)
    known = GitlabFake.transaction { |data| data['users'].key?(name) }
    raise RecordNotFound, "Couldn't find User with username #{name}" unless known

    new(name)
  end

  def personal_access_tokens
    TokenRelation.new(@username)
  end
end
