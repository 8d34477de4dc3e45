"""The GraphQL schema the mock serves: GitHub's types and fields, only those `gh` asks for.

Names, nullability and enums are GitHub's (docs.github.com/graphql), so a query written
for GitHub validates here or fails with the error GitHub's validation would give; what
`gh pr list`, `gh pr view` and `gh pr checks` select is here, and fields the mock has no
data for (reviews, projects, reactions) answer empty.
"""

SDL = """
scalar DateTime
scalar URI
scalar GitObjectID

type Query {
  repository(owner: String!, name: String!, followRenames: Boolean = true): Repository
  node(id: ID!): Node
}

interface Node {
  id: ID!
}

interface Actor {
  login: String!
  avatarUrl(size: Int): URI!
  url: URI!
}

interface RepositoryOwner {
  id: ID!
  login: String!
  avatarUrl(size: Int): URI!
  url: URI!
}

type User implements Node & Actor & RepositoryOwner {
  id: ID!
  databaseId: Int
  login: String!
  name: String
  avatarUrl(size: Int): URI!
  url: URI!
}

type Organization implements Node & Actor & RepositoryOwner {
  id: ID!
  databaseId: Int
  login: String!
  name: String
  avatarUrl(size: Int): URI!
  url: URI!
}

type Bot implements Node & Actor {
  id: ID!
  databaseId: Int
  login: String!
  avatarUrl(size: Int): URI!
  url: URI!
}

type Team implements Node {
  id: ID!
  name: String!
  slug: String!
  organization: Organization!
}

union RequestedReviewer = Bot | Team | User

type PageInfo {
  hasNextPage: Boolean!
  hasPreviousPage: Boolean!
  startCursor: String
  endCursor: String
}

type Repository implements Node {
  id: ID!
  databaseId: Int
  name: String!
  nameWithOwner: String!
  owner: RepositoryOwner!
  url: URI!
  isPrivate: Boolean!
  pullRequest(number: Int!): PullRequest
  pullRequests(
    states: [PullRequestState!]
    labels: [String!]
    headRefName: String
    baseRefName: String
    orderBy: IssueOrder
    first: Int
    after: String
    last: Int
    before: String
  ): PullRequestConnection!
}

enum PullRequestState { OPEN CLOSED MERGED }

enum MergeableState { MERGEABLE CONFLICTING UNKNOWN }

enum CommentAuthorAssociation {
  MEMBER
  OWNER
  MANNEQUIN
  COLLABORATOR
  CONTRIBUTOR
  FIRST_TIME_CONTRIBUTOR
  FIRST_TIMER
  NONE
}

input IssueOrder {
  field: IssueOrderField!
  direction: OrderDirection!
}

enum IssueOrderField { CREATED_AT UPDATED_AT COMMENTS }

enum OrderDirection { ASC DESC }

type PullRequestConnection {
  totalCount: Int!
  nodes: [PullRequest]
  pageInfo: PageInfo!
}

type PullRequest implements Node {
  id: ID!
  databaseId: Int
  number: Int!
  title: String!
  body: String!
  state: PullRequestState!
  url: URI!
  author: Actor
  authorAssociation: CommentAuthorAssociation!
  createdAt: DateTime!
  updatedAt: DateTime!
  closedAt: DateTime
  mergedAt: DateTime
  closed: Boolean!
  merged: Boolean!
  isDraft: Boolean!
  locked: Boolean!
  maintainerCanModify: Boolean!
  mergeable: MergeableState!
  additions: Int!
  deletions: Int!
  changedFiles: Int!
  baseRefName: String!
  baseRefOid: GitObjectID!
  headRefName: String!
  headRefOid: GitObjectID!
  headRepository: Repository
  headRepositoryOwner: RepositoryOwner
  isCrossRepository: Boolean!
  commits(first: Int, after: String, last: Int, before: String): PullRequestCommitConnection!
  comments(first: Int, after: String, last: Int, before: String): IssueCommentConnection!
  labels(first: Int, after: String, last: Int, before: String): LabelConnection
  assignees(first: Int, after: String, last: Int, before: String): UserConnection!
  reviewRequests(first: Int, after: String, last: Int, before: String): ReviewRequestConnection
  reviews(first: Int, after: String, last: Int, before: String): PullRequestReviewConnection
  projectCards(first: Int, after: String, last: Int, before: String): ProjectCardConnection!
  milestone: Milestone
  reactionGroups: [ReactionGroup!]
}

type PullRequestCommitConnection {
  totalCount: Int!
  nodes: [PullRequestCommit]
  pageInfo: PageInfo!
}

type PullRequestCommit implements Node {
  id: ID!
  commit: Commit!
}

type Commit implements Node {
  id: ID!
  oid: GitObjectID!
  abbreviatedOid: String!
  message: String!
  messageHeadline: String!
  committedDate: DateTime!
  url: URI!
  statusCheckRollup: StatusCheckRollup
}

enum StatusState { ERROR EXPECTED FAILURE PENDING SUCCESS }

type StatusCheckRollup implements Node {
  id: ID!
  state: StatusState!
  contexts(
    first: Int, after: String, last: Int, before: String
  ): StatusCheckRollupContextConnection!
}

union StatusCheckRollupContext = CheckRun | StatusContext

type StatusCheckRollupContextConnection {
  totalCount: Int!
  nodes: [StatusCheckRollupContext]
  pageInfo: PageInfo!
}

type StatusContext implements Node {
  id: ID!
  context: String!
  state: StatusState!
  description: String
  targetUrl: URI
  avatarUrl(size: Int): URI
  createdAt: DateTime!
  creator: Actor
  isRequired(pullRequestId: ID, pullRequestNumber: Int): Boolean!
}

enum CheckStatusState { COMPLETED IN_PROGRESS PENDING QUEUED REQUESTED WAITING }

enum CheckConclusionState {
  ACTION_REQUIRED
  CANCELLED
  FAILURE
  NEUTRAL
  SKIPPED
  STALE
  STARTUP_FAILURE
  SUCCESS
  TIMED_OUT
}

type CheckRun implements Node {
  id: ID!
  databaseId: Int
  name: String!
  status: CheckStatusState!
  conclusion: CheckConclusionState
  startedAt: DateTime
  completedAt: DateTime
  detailsUrl: URI
  externalId: String
  permalink: URI!
  url: URI!
  title: String
  summary: String
  text: String
  checkSuite: CheckSuite!
  isRequired(pullRequestId: ID, pullRequestNumber: Int): Boolean!
}

type CheckSuite implements Node {
  id: ID!
  databaseId: Int
  status: CheckStatusState!
  conclusion: CheckConclusionState
  app: App
  workflowRun: WorkflowRun
}

type App implements Node {
  id: ID!
  databaseId: Int
  name: String!
  slug: String!
}

type WorkflowRun implements Node {
  id: ID!
  event: String!
  workflow: Workflow!
}

type Workflow implements Node {
  id: ID!
  name: String!
}

type IssueCommentConnection {
  totalCount: Int!
  nodes: [IssueComment]
  pageInfo: PageInfo!
}

type IssueComment implements Node {
  id: ID!
  databaseId: Int
  author: Actor
  authorAssociation: CommentAuthorAssociation!
  body: String!
  createdAt: DateTime!
  includesCreatedEdit: Boolean!
  isMinimized: Boolean!
  minimizedReason: String
  reactionGroups: [ReactionGroup!]
  url: URI!
  viewerDidAuthor: Boolean!
}

type LabelConnection {
  totalCount: Int!
  nodes: [Label]
  pageInfo: PageInfo!
}

type Label implements Node {
  id: ID!
  name: String!
  description: String
  color: String!
}

type UserConnection {
  totalCount: Int!
  nodes: [User]
  pageInfo: PageInfo!
}

type ReviewRequestConnection {
  totalCount: Int!
  nodes: [ReviewRequest]
  pageInfo: PageInfo!
}

type ReviewRequest implements Node {
  id: ID!
  requestedReviewer: RequestedReviewer
}

type PullRequestReviewConnection {
  totalCount: Int!
  nodes: [PullRequestReview]
  pageInfo: PageInfo!
}

enum PullRequestReviewState { PENDING COMMENTED APPROVED CHANGES_REQUESTED DISMISSED }

type PullRequestReview implements Node {
  id: ID!
  author: Actor
  authorAssociation: CommentAuthorAssociation!
  body: String!
  state: PullRequestReviewState!
  submittedAt: DateTime
  commit: Commit
  reactionGroups: [ReactionGroup!]
}

type ProjectCardConnection {
  totalCount: Int!
  nodes: [ProjectCard]
  pageInfo: PageInfo!
}

type ProjectCard implements Node {
  id: ID!
  project: Project!
  column: ProjectColumn
}

type Project implements Node {
  id: ID!
  name: String!
}

type ProjectColumn implements Node {
  id: ID!
  name: String!
}

type Milestone implements Node {
  id: ID!
  number: Int!
  title: String!
  description: String
  dueOn: DateTime
}

enum ReactionContent { THUMBS_UP THUMBS_DOWN LAUGH HOORAY CONFUSED HEART ROCKET EYES }

type ReactionGroup {
  content: ReactionContent!
  users(first: Int, after: String, last: Int, before: String): ReactingUserConnection!
}

type ReactingUserConnection {
  totalCount: Int!
}
"""
